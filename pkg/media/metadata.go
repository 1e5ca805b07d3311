package media

// Property is one key of a publisher's stream metadata (RTMP onMetaData).
// Value is a float64, bool or string.
type Property struct {
	Key   string
	Value any
}

// Metadata is what a publisher said about its stream, in its order.
type Metadata []Property

// Get returns the value of key.
func (m Metadata) Get(key string) (any, bool) {
	for _, p := range m {
		if p.Key == key {
			return p.Value, true
		}
	}
	return nil, false
}

// Number returns the numeric value of key.
func (m Metadata) Number(key string) (float64, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	f, ok := v.(float64)
	return f, ok
}
