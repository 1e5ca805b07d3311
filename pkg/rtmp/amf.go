package rtmp

import "github.com/bluenviron/gortmplib/pkg/amf0"

var amf0Undefined = amf0.Undefined{}

func amf0ObjectEntry(key string, v any) amf0.ObjectEntry { return amf0.ObjectEntry{Key: key, Value: v} }

func amf0StrictArray(values ...any) amf0.StrictArray { return amf0.StrictArray(values) }

func statusObject(level, code, description string) amf0.Object {
	return amf0.Object{
		{Key: "level", Value: level},
		{Key: "code", Value: code},
		{Key: "description", Value: description},
	}
}

func fmsProperties() amf0.Object {
	return amf0.Object{
		{Key: "fmsVer", Value: "FMS/3,0,1,123"},
		{Key: "capabilities", Value: float64(31)},
	}
}
