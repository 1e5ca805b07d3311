package hook

import (
	"github.com/mediakit/mediakit/pkg/rtpsend"
	"github.com/mediakit/mediakit/pkg/zlm"
)

// OnSendRTPStopped is told when an RTP sender (startSendRtp,
// startSendRtpPassive, startSendRtpTalk) stops.
const OnSendRTPStopped = "on_send_rtp_stopped"

var _ rtpsend.Notifier = (*Hooks)(nil)

// SendRTPStopped sends on_send_rtp_stopped with ZLMediaKit's body: the
// media tuple, the SSRC, the stream's origin, and why the sender stopped
// (msg, and ZLToolKit's error code in err). It only queues.
func (h *Hooks) SendRTPStopped(info rtpsend.StoppedInfo) {
	body := zlm.Tuple(info.Key, info.Params)
	body["ssrc"] = info.SSRC
	body["originType"] = int(info.Origin)
	body["originTypeStr"] = info.Origin.String()
	body["originUrl"] = info.OriginURL
	body["msg"] = info.Msg
	body["err"] = info.Err
	h.client.Notify(OnSendRTPStopped, body)
}
