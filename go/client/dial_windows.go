package client

import (
	"encoding/binary"
	"net"
	"syscall"
)

// On Windows a connect to a port nobody listens on is not refused at once:
// the stack sends the SYN again after each reset, for about 2 s in all. To
// a loopback address, where a refusal is final, the client asks for no SYN
// retransmissions (SIO_TCP_INITIAL_RTO, Windows 10 1703 and later); where
// that is not supported (older Windows, wine) the dial goes on as before.
const (
	sioTCPInitialRTO     = 0x98000011 // _WSAIOW(IOC_VENDOR, 17)
	unspecifiedRTT       = 0xffff     // TCP_INITIAL_RTO_UNSPECIFIED_RTT
	noSynRetransmissions = 0xfe       // TCP_INITIAL_RTO_NO_SYN_RETRANSMISSIONS
)

// dialControl is net.Dialer's Control: it runs on the socket before connect.
func dialControl(network, address string, c syscall.RawConn) error {
	if !isLoopback(address) {
		return nil
	}
	var params [4]byte // TCP_INITIAL_RTO_PARAMETERS: USHORT Rtt, UCHAR MaxSynRetransmissions, padding
	binary.LittleEndian.PutUint16(params[0:], unspecifiedRTT)
	params[2] = noSynRetransmissions
	return c.Control(func(fd uintptr) {
		var n uint32
		_ = syscall.WSAIoctl(syscall.Handle(fd), sioTCPInitialRTO, &params[0], uint32(len(params)), nil, 0, &n, nil, 0)
	})
}

// isLoopback reports whether address (host:port) names this machine's loopback.
func isLoopback(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
