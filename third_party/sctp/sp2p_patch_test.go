// SPDX-FileCopyrightText: 2026 The Pion community <https://pion.ly>
// SPDX-License-Identifier: MIT

package sctp

// Tests of sp2p's patch (SP2P-PATCH.md): the recovery after a T3-rtx
// timeout with a full receive window in flight must not go one packet per
// SACK. Each fails on the unpatched pion/sctp v1.12.1.

import (
	"net"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A sender with the peer's whole 1 MiB window in flight loses all of it
// (an outage): T3-rtx marks it for retransmission, and the first SACK
// after the outage acknowledges one retransmitted chunk and advertises the
// full window again. The next send opportunity retransmits as much as cwnd
// allows, not one chunk: the peer holds none of the marked chunks.
func TestSP2PRetransmitAfterT3IsBoundedByCwndNotRwnd(t *testing.T) {
	c1, c2 := net.Pipe()
	assoc := createTestAssociation(t, Config{
		Name:          "sp2p-rtx",
		NetConn:       c1,
		MTU:           1200,
		MinCwnd:       16 << 10,
		LoggerFactory: logging.NewDefaultLoggerFactory(),
		RTOMax:        1000,
	})
	defer shutdownTLRAssociationForTest(assoc, c2)

	const window = 1 << 20
	userLen := int(maxPayloadSizeForMTU(assoc.MTU(), false))
	n := window/userLen + 1 // a full window in flight

	assoc.lock.Lock()
	assoc.setState(established)
	assoc.cumulativeTSNAckPoint = 99
	pushInflightRetransmitFullPacketChunks(t, assoc, 100, n)
	for i := 0; i < n; i++ {
		c, ok := assoc.inflightQueue.get(100 + uint32(i)) //nolint:gosec
		require.True(t, ok)
		c.retransmit = false
		c.since = time.Now()
	}
	assoc.lock.Unlock()

	// The outage: T3-rtx fires (it takes the lock itself).
	assoc.onRetransmissionTimeout(timerT3RTX, 1)

	assoc.lock.Lock()
	defer assoc.lock.Unlock()
	// The first chunk's retransmission got through and is acknowledged;
	// the peer holds nothing else and advertises its whole window.
	first, _ := assoc.inflightQueue.get(100)
	first.retransmit = false
	first.nSent = 2
	require.NoError(t, assoc.handleSack(&chunkSelectiveAck{cumulativeTSNAck: 100, advertisedReceiverWindowCredit: window}))
	require.Less(t, assoc.RWND(), uint32(userLen), "the SACK leaves rwnd below one chunk (the marked chunks still count)")

	budget := assoc.tlrCurrentBurstBudgetScaledLocked()
	consumed := false
	chunks := 0
	for _, p := range assoc.getDataPacketsToRetransmit(&budget, &consumed) {
		chunks += len(p.chunks)
	}
	assert.GreaterOrEqual(t, chunks, 2, "one chunk per SACK: the retransmission is held back by rwnd")
	assert.LessOrEqual(t, chunks*userLen, int(assoc.CWND()), "more than cwnd retransmitted")
}

// However many losses tail loss recovery has seen, a send opportunity
// lets at least two full packets out, so the peer acknowledges at once
// (it delays the SACK for a lone packet).
func TestSP2PTLRMinimumBurstIsTwoPackets(t *testing.T) {
	assoc, peer := newTLRAssociationForTest(t)
	defer shutdownTLRAssociationForTest(assoc, peer)

	assoc.lock.Lock()
	defer assoc.lock.Unlock()

	assoc.setCWND(1_000_000)
	assoc.setRWND(1_000_000)
	assoc.tlrActive = true
	assoc.tlrFirstRTT = false
	assoc.tlrStartTime = time.Now().Add(-10 * time.Second)
	for range 10 {
		assoc.tlrApplyAdditionalLossLocked(time.Now())
	}
	assoc.cumulativeTSNAckPoint = 99
	pushInflightRetransmitFullPacketChunks(t, assoc, 100, 6)

	budget := assoc.tlrCurrentBurstBudgetScaledLocked()
	consumed := false
	pkts := assoc.getDataPacketsToRetransmit(&budget, &consumed)
	assert.Len(t, pkts, 2, "the reduced burst lets %d full packet(s) out per send opportunity", len(pkts))
}

// With RTOMax lowered to 3 s (as sp2p sets it, for data after an outage),
// the INIT still waits as long as with the default RTO.Max before T1-init
// gives up: over two minutes, not 25 s, so a peer whose DTLS handshake
// completes late (its last flight's answer lost) can still answer.
func TestSP2PInitPatienceIgnoresLowRTOMax(t *testing.T) {
	assoc := createTestAssociation(t, Config{
		Name:          "sp2p-init",
		LoggerFactory: logging.NewDefaultLoggerFactory(),
		RTOMax:        3000,
	})
	defer assoc.closeAllTimers()

	var total float64
	for n := uint(0); n <= maxInitRetrans; n++ {
		total += calculateNextTimeout(rtoInitial, n, assoc.t1Init.rtoMax)
	}
	assert.Greater(t, total, 120_000.0, "T1-init gives up after %.0f ms", total)
	assert.Equal(t, 3000.0, assoc.t3RTX.rtoMax, "RTOMax still bounds T3-rtx")
}
