/*
 * uring.c is a minimal single-threaded io_uring echo server, the io_uring
 * counterpart of echo.c: a multishot accept, a multishot receive per
 * connection into a ring of provided buffers, and each buffer sent back as
 * it is and handed back to the kernel once sent. No queues, no timers. It is
 * the ceiling the uring engine is measured against.
 *
 * Build: gcc -O2 -o curing bench/cecho/uring.c -luring   (Debian: liburing-dev)
 * Run:   ./curing 9000
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ENTRIES 4096
#define NBUFS 4096
#define BUFSIZE 4096
#define BGID 0

enum { ACCEPT, RECV, SEND };

/* user_data: kind in the low 8 bits, fd above; a send also carries its
 * buffer id and how far it has got in a struct of its own. */
struct send {
	int fd, bid, off, len;
};

static struct io_uring ring;
static struct io_uring_buf_ring *br;
static char *bufs;

static struct io_uring_sqe *sqe(void) {
	struct io_uring_sqe *s;
	while (!(s = io_uring_get_sqe(&ring)))
		io_uring_submit(&ring); /* full: submit, never drop */
	return s;
}

static void recycle(int bid) {
	io_uring_buf_ring_add(br, bufs + (size_t)bid * BUFSIZE, BUFSIZE, bid, io_uring_buf_ring_mask(NBUFS), 0);
	io_uring_buf_ring_advance(br, 1);
}

static void arm_recv(int fd) {
	struct io_uring_sqe *s = sqe();
	io_uring_prep_recv_multishot(s, fd, NULL, 0, 0);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
	io_uring_sqe_set_data64(s, (__u64)fd << 8 | RECV);
}

static void send_more(struct send *sd) {
	struct io_uring_sqe *s = sqe();
	io_uring_prep_send(s, sd->fd, bufs + (size_t)sd->bid * BUFSIZE + sd->off, sd->len - sd->off, MSG_NOSIGNAL);
	io_uring_sqe_set_data(s, sd);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: %s port\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	int ln = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(ln, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1])),
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(ln, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ln, 4096) < 0) {
		perror("listen");
		return 1;
	}

	struct io_uring_params p = {.flags = IORING_SETUP_CQSIZE | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
	                            .cq_entries = 4 * ENTRIES};
	int err = io_uring_queue_init_params(ENTRIES, &ring, &p);
	if (err < 0) {
		fprintf(stderr, "io_uring_queue_init: %s\n", strerror(-err));
		return 1;
	}
	if (posix_memalign((void **)&br, 4096, NBUFS * sizeof(struct io_uring_buf)) ||
	    posix_memalign((void **)&bufs, 4096, (size_t)NBUFS * BUFSIZE)) {
		perror("posix_memalign");
		return 1;
	}
	io_uring_buf_ring_init(br);
	struct io_uring_buf_reg reg = {.ring_addr = (unsigned long)br, .ring_entries = NBUFS, .bgid = BGID};
	if ((err = io_uring_register_buf_ring(&ring, &reg, 0)) < 0) {
		fprintf(stderr, "io_uring_register_buf_ring: %s\n", strerror(-err));
		return 1;
	}
	for (int i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(br, bufs + (size_t)i * BUFSIZE, BUFSIZE, i, io_uring_buf_ring_mask(NBUFS), i);
	io_uring_buf_ring_advance(br, NBUFS);

	struct io_uring_sqe *s = sqe();
	io_uring_prep_multishot_accept(s, ln, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(s, ACCEPT);

	for (;;) {
		if (io_uring_submit_and_wait(&ring, 1) < 0 && errno != EINTR)
			continue;
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;
		io_uring_for_each_cqe(&ring, head, cqe) {
			n++;
			__u64 ud = cqe->user_data;
			int res = cqe->res;
			if (ud == ACCEPT) {
				if (res >= 0) {
					setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					arm_recv(res);
				}
				if (!(cqe->flags & IORING_CQE_F_MORE)) {
					s = sqe();
					io_uring_prep_multishot_accept(s, ln, NULL, NULL, SOCK_CLOEXEC);
					io_uring_sqe_set_data64(s, ACCEPT);
				}
			} else if ((ud & 0xff) == RECV) {
				int fd = ud >> 8;
				if (res > 0) {
					struct send *sd = malloc(sizeof *sd);
					*sd = (struct send){fd, cqe->flags >> IORING_CQE_BUFFER_SHIFT, 0, res};
					send_more(sd);
				} else if (cqe->flags & IORING_CQE_F_BUFFER) {
					recycle(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
				}
				if (!(cqe->flags & IORING_CQE_F_MORE)) {
					if (res == -ENOBUFS || res > 0)
						arm_recv(fd); /* out of buffers for a moment */
					else
						close(fd); /* EOF or error */
				}
			} else { /* a send */
				struct send *sd = (struct send *)(uintptr_t)ud;
				if (res > 0 && (sd->off += res) < sd->len) {
					send_more(sd);
					continue;
				}
				recycle(sd->bid);
				free(sd);
			}
		}
		io_uring_cq_advance(&ring, n);
	}
}
