//go:build unix

package drain

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawConn is c's file descriptor access, or nil where the watch cannot run.
func rawConn(c net.Conn) syscall.RawConn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// peekWait waits, in the runtime's network poller (no thread held), until
// the client's side of rc has something to say or the connection's read
// deadline passes. It looks with MSG_PEEK, so nothing is taken from what
// the server reads next. gone: the client hung up (end of stream, or the
// connection was reset); false otherwise, also when bytes arrived (a
// pipelined request: the client is there) or the deadline woke it.
func peekWait(rc syscall.RawConn) (gone bool) {
	var b [1]byte
	err := rc.Read(func(fd uintptr) bool {
		n, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			return false // nothing yet: wait until readable
		case err != nil, n == 0:
			gone = true
		}
		return true
	})
	return err == nil && gone
}
