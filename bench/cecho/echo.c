/*
 * echo.c is a minimal single-threaded epoll echo server: level-triggered,
 * non-blocking, one read buffer, no queues. It is the ceiling the Go engines
 * are measured against: the cost of the kernel work alone.
 *
 * Build: gcc -O2 -o cecho bench/cecho/echo.c
 * Run:   ./cecho 9000
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXEVENTS 256

static char buf[65536];

static void drop(int ep, int fd) {
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s port\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	int ln = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ln, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ln, 4096) < 0) {
		perror("listen");
		return 1;
	}

	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = ln};
	epoll_ctl(ep, EPOLL_CTL_ADD, ln, &ev);

	struct epoll_event events[MAXEVENTS];
	for (;;) {
		int n = epoll_wait(ep, events, MAXEVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			if (fd == ln) {
				int c;
				while ((c = accept4(ln, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
				}
				continue;
			}
			ssize_t r = read(fd, buf, sizeof buf);
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				drop(ep, fd);
				continue;
			}
			/* An echo peer reads what it sent; a short write only
			 * happens to a peer that does not, and it is dropped. */
			for (ssize_t off = 0; r > 0 && off < r;) {
				ssize_t w = write(fd, buf + off, r - off);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					drop(ep, fd);
					break;
				}
				off += w;
			}
		}
	}
}
