package rtsp

import (
	"fmt"
	"testing"

	"github.com/mediakit/mediakit/internal/testutil/clipframes"
	"github.com/mediakit/mediakit/pkg/media"
)

// BenchmarkRTSPFanout measures the per-frame path of RTSP players over
// TCP: the frame is packetized once (FramePackets, shared by every
// player), then each player writes its RTP and interleaved headers and
// hands the packets to one writev (here to a connection that discards
// them, so no system call is measured). One op is one frame of
// h264_aac.flv delivered to every player; wire-B/op is what all players
// wrote for it.
//
//	go test -run '^$' -bench BenchmarkRTSPFanout -benchmem ./pkg/rtsp
func BenchmarkRTSPFanout(b *testing.B) {
	tracks, frames := clipframes.Read(b, "h264_aac.flv")
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) {
			e, _ := plyStream(b, tracks)
			conns := make([]*plyConn, n)
			players := make([]*player, n)
			for i := range players {
				conns[i] = &plyConn{}
				players[i] = plyPlayer(b, e, tracks, conns[i])
			}
			batch := make([]*media.Frame, 1)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				src := frames[i%len(frames)]
				// A new frame each time, as the engine hands them out: its
				// packets are built by the first player that asks.
				batch[0] = &media.Frame{Track: src.Track, DTS: src.DTS, PTS: src.PTS, Key: src.Key, Payload: src.Payload}
				for _, p := range players {
					if err := p.writeDirect(batch); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			var wire int64
			for _, c := range conns {
				wire += c.n
			}
			b.ReportMetric(float64(wire)/float64(b.N), "wire-B/op")
		})
	}
}
