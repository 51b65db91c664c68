//go:build !unix

package drain

import (
	"net"
	"syscall"
)

// rawConn: the client watch needs MSG_PEEK; elsewhere a client that hangs
// up is noticed when its answer is written.
func rawConn(net.Conn) syscall.RawConn { return nil }

func peekWait(syscall.RawConn) bool { return false }
