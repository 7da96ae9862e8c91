package agents

// intInfo reads a token count a provider put in a choice's GenerationInfo.
func intInfo(info map[string]any, key string) (int, bool) {
	v, ok := info[key]
	if !ok {
		return 0, false
	}
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}
