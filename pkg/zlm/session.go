package zlm

import "github.com/mediakit/mediakit/pkg/session"

// Session is one getAllSession item.
func Session(s session.Info) map[string]any {
	lip, lport := SplitAddr(addr(s.Local))
	pip, pport := SplitAddr(addr(s.Remote))
	typeID := s.TypeID
	if typeID == "" {
		typeID = SessionTypeID(s.Protocol)
	}
	return map[string]any{
		"id":         s.ID,
		"identifier": s.ID,
		"local_ip":   lip,
		"local_port": lport,
		"peer_ip":    pip,
		"peer_port":  pport,
		"typeid":     typeID,
	}
}

func addr(a interface{ String() string }) string {
	if a == nil {
		return ""
	}
	return a.String()
}
