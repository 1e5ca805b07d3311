package mp4

// SetPadding makes NewWriter write a sparse free box of n bytes (n > 16)
// right after ftyp, so that every sample lies beyond offset n.
func SetPadding(o *Options, n int64) { o.padding = n }

// SetMaxFree lowers the size above which Close writes the temporary free
// box over the fragments with a 64-bit size.
func SetMaxFree(o *Options, n uint64) { o.maxFree = n }

// SetStageHook makes Close call fn after each finalisation step: "moov"
// (the progressive moov is appended), "init" (the fragmented moov became a
// free box spanning every fragment), "moofs" (every moof renamed to free).
func SetStageHook(w *Writer, fn func(stage string)) { w.stage = fn }
