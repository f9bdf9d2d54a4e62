package top

import (
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The terminal's sequences top uses (xterm's, which every terminal
// emulator in use understands).
const (
	enterAltScreen = "\x1b[?1049h\x1b[?25l" // alternate screen, cursor hidden
	leaveAltScreen = "\x1b[?25h\x1b[?1049l" // cursor shown, main screen back
	home           = "\x1b[H"
	clearLine      = "\x1b[K" // to the end of the line
	clearBelow     = "\x1b[J" // to the end of the screen
)

// screen is a terminal that top redraws in place, as top(1) does, with
// its keyboard in cbreak mode to read q. close restores both.
type screen struct {
	out           *os.File
	in            *os.File      // nil: no keyboard
	saved         *unix.Termios // in's mode before
	width, height int
	quit          chan struct{} // closed when q is pressed
	stopKeys      chan struct{}
	keysDone      chan struct{}
	closeOnce     sync.Once
	buf           []byte
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// openScreen switches out to the alternate screen and, if in is a
// terminal, its keyboard to cbreak mode: keys come one at a time, unechoed,
// and Ctrl-C still interrupts.
func openScreen(out, in *os.File) (*screen, error) {
	s := &screen{out: out, quit: make(chan struct{}), stopKeys: make(chan struct{}), keysDone: make(chan struct{})}
	s.resize()
	if in != nil && isTerminal(in) {
		t, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS)
		if err == nil {
			saved := *t
			t.Lflag &^= unix.ICANON | unix.ECHO
			t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
			if unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, t) == nil {
				s.in, s.saved = in, &saved
			}
		}
	}
	if s.in != nil {
		go s.keys()
	} else {
		close(s.keysDone)
	}
	if _, err := out.WriteString(enterAltScreen); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

// resize takes the terminal's size anew (after SIGWINCH).
func (s *screen) resize() {
	s.width, s.height = 80, 24
	if ws, err := unix.IoctlGetWinsize(int(s.out.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 && ws.Row > 0 {
		s.width, s.height = int(ws.Col), int(ws.Row)
	}
}

// keyPollMillis is how long keys waits for a key before it looks whether
// to stop.
const keyPollMillis = 100

// keys closes quit when q is pressed. It polls, so that close can stop it
// without a key.
func (s *screen) keys() {
	defer close(s.keysDone)
	fds := []unix.PollFd{{Fd: int32(s.in.Fd()), Events: unix.POLLIN}}
	key := make([]byte, 16)
	for {
		select {
		case <-s.stopKeys:
			return
		default:
		}
		n, err := unix.Poll(fds, keyPollMillis)
		if err == unix.EINTR {
			continue
		}
		if err != nil || (n > 0 && fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0) {
			return
		}
		if n == 0 {
			continue
		}
		m, err := unix.Read(int(s.in.Fd()), key)
		if err != nil || m == 0 {
			return
		}
		for _, k := range key[:m] {
			if k == 'q' || k == 'Q' {
				close(s.quit)
				return
			}
		}
	}
}

// draw writes lines from the top left corner, each cut to the width by the
// caller, clearing what the last frame left; one write, so the terminal
// never shows half a frame.
func (s *screen) draw(lines []string) error {
	b := append(s.buf[:0], home...)
	for i, l := range lines {
		if i >= s.height {
			break
		}
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(append(b, l...), clearLine...)
	}
	b = append(b, clearBelow...)
	s.buf = b
	_, err := s.out.Write(b)
	return err
}

// close leaves the alternate screen and gives the keyboard its mode back.
// Safe to call more than once.
func (s *screen) close() {
	s.closeOnce.Do(func() {
		close(s.stopKeys)
		<-s.keysDone
		_, _ = s.out.WriteString(leaveAltScreen)
		if s.saved != nil {
			_ = unix.IoctlSetTermios(int(s.in.Fd()), unix.TCSETS, s.saved)
		}
	})
}
