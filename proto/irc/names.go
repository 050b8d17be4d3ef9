package irc

// Numeric replies and errors a server sends, by their RFC 2812 names.
const (
	RplWelcome           = "001"
	RplYourHost          = "002"
	RplCreated           = "003"
	RplMyInfo            = "004"
	RplISupport          = "005"
	RplUmodeIs           = "221"
	RplLuserClient       = "251"
	RplLuserOp           = "252"
	RplLuserChannels     = "254"
	RplLuserMe           = "255"
	RplAway              = "301"
	RplUserhost          = "302"
	RplIson              = "303"
	RplUnaway            = "305"
	RplNowAway           = "306"
	RplWhoisUser         = "311"
	RplWhoisServer       = "312"
	RplWhoisOperator     = "313"
	RplWhoWasUser        = "314"
	RplEndOfWho          = "315"
	RplWhoisIdle         = "317"
	RplEndOfWhois        = "318"
	RplWhoisChannels     = "319"
	RplListStart         = "321"
	RplList              = "322"
	RplListEnd           = "323"
	RplChannelModeIs     = "324"
	RplCreationTime      = "329"
	RplNoTopic           = "331"
	RplTopic             = "332"
	RplTopicWhoTime      = "333"
	RplVersion           = "351"
	RplWhoReply          = "352"
	RplNamReply          = "353"
	RplEndOfNames        = "366"
	RplEndOfBanList      = "368"
	RplEndOfWhoWas       = "369"
	RplInfo              = "371"
	RplMotd              = "372"
	RplMotdStart         = "375"
	RplEndOfInfo         = "374"
	RplEndOfMotd         = "376"
	RplYoureOper         = "381"
	RplTime              = "391"
	ErrNoSuchNick        = "401"
	ErrNoSuchServer      = "402"
	ErrNoSuchChannel     = "403"
	ErrCannotSendToChan  = "404"
	ErrTooManyChannels   = "405"
	ErrWasNoSuchNick     = "406"
	ErrNoRecipient       = "411"
	ErrNoTextToSend      = "412"
	ErrInputTooLong      = "417"
	ErrUnknownCommand    = "421"
	ErrNoMotd            = "422"
	ErrNoNicknameGiven   = "431"
	ErrErroneusNickname  = "432"
	ErrNicknameInUse     = "433"
	ErrUnavailResource   = "437"
	ErrUserNotInChannel  = "441"
	ErrNotOnChannel      = "442"
	ErrNotRegistered     = "451"
	ErrNeedMoreParams    = "461"
	ErrAlreadyRegistered = "462"
	ErrPasswdMismatch    = "464"
	ErrChannelIsFull     = "471"
	ErrUnknownMode       = "472"
	ErrNoPrivileges      = "481"
	ErrChanOPrivsNeeded  = "482"
	ErrNoOperHost        = "491"
	RplInviting          = "341"
	RplBanList           = "367"
	ErrUserOnChannel     = "443"
	ErrKeySet            = "467"
	ErrInviteOnlyChan    = "473"
	ErrBannedFromChan    = "474"
	ErrBadChannelKey     = "475"
	ErrBanListFull       = "478"
	ErrInvalidModeParam  = "696"
	ErrUmodeUnknownFlag  = "501"
	ErrUsersDontMatch    = "502"
)

// Fold maps a nick or channel name to the key two names compare equal by,
// with CASEMAPPING=ascii: A-Z fold to a-z and nothing else changes.
func Fold(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// ValidNick reports whether s may be a nickname no longer than max bytes: a
// letter or one of []\`_^{|} first, then letters, digits, those and '-'.
func ValidNick(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == '[' || c == ']' || c == '\\' || c == '`' || c == '_' || c == '^' || c == '{' || c == '|' || c == '}':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}
