package fakebinance

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// FaultKind is one way a request can go wrong.
type FaultKind int

const (
	// FaultUnavailable answers 503 -1007 ("execution status unknown")
	// without processing the request.
	FaultUnavailable FaultKind = iota + 1
	// FaultAcceptUnavailable processes the request (an order is placed),
	// then answers 503 -1007 all the same.
	FaultAcceptUnavailable
	// FaultRateLimit answers 429 -1003 with Retry-After.
	FaultRateLimit
	// FaultBan answers 418 -1003 ("IP banned until ...") with Retry-After.
	FaultBan
	// FaultTimestamp answers 400 -1021 (timestamp ahead of server time).
	FaultTimestamp
	// FaultInsufficient answers 400 -2010 insufficient balance.
	FaultInsufficient
	// FaultFilter answers 400 -1013 "Filter failure: <Filter>" (LOT_SIZE
	// unless Filter says otherwise).
	FaultFilter
	// FaultHang holds the request unprocessed until the hang limit, the
	// request's context or Close, then answers 503 -1007.
	FaultHang
	// FaultDrop closes the connection without processing the request.
	FaultDrop
	// FaultAcceptDrop processes the request, then closes the connection
	// without a reply.
	FaultAcceptDrop
	// FaultAcceptHang processes the request, then holds the reply until
	// the hang limit (the client has given up by then).
	FaultAcceptHang
	// FaultPartialFills (POST /api/v3/order) places the order, which then
	// fills in Polls steps, one per poll of it (GET /api/v3/order, or a
	// GET /api/v3/openOrders listing it).
	FaultPartialFills
	// FaultLateVisible (POST /api/v3/order) places the order and holds the
	// reply like FaultAcceptHang; the first Polls lookups of the order then
	// answer -2013 "Order does not exist." before it appears.
	FaultLateVisible
	// FaultMaintenance answers 503 -1016 MsgMaintenance without processing
	// the request, as Binance does during system maintenance.
	FaultMaintenance
)

var faultNames = map[FaultKind]string{
	FaultUnavailable: "unavailable", FaultAcceptUnavailable: "accept_unavailable", FaultRateLimit: "rate_limit",
	FaultBan: "ban", FaultTimestamp: "timestamp", FaultInsufficient: "insufficient", FaultFilter: "filter",
	FaultHang: "hang", FaultDrop: "drop", FaultAcceptDrop: "accept_drop", FaultAcceptHang: "accept_hang",
	FaultPartialFills: "partial_fills", FaultLateVisible: "late_visible", FaultMaintenance: "maintenance",
}

func (k FaultKind) String() string {
	if n, ok := faultNames[k]; ok {
		return n
	}
	return fmt.Sprintf("fault(%d)", int(k))
}

// processes reports whether the request is carried out before the fault.
func (k FaultKind) processes() bool {
	switch k {
	case FaultAcceptUnavailable, FaultAcceptDrop, FaultAcceptHang, FaultPartialFills, FaultLateVisible:
		return true
	}
	return false
}

// Fault is one injected fault. It applies to the next Times requests
// (default 1) whose path is Path and, when Method is set, whose method is
// Method.
type Fault struct {
	Method     string
	Path       string
	Kind       FaultKind
	Times      int
	RetryAfter time.Duration // 429 and 418; default 1 s
	Polls      int           // FaultPartialFills, FaultLateVisible
	Filter     string        // FaultFilter
}

// Inject queues a fault; faults match in the order they were injected.
func (s *Server) Inject(f Fault) error {
	if _, ok := faultNames[f.Kind]; !ok {
		return fmt.Errorf("fakebinance: unknown fault kind %d", int(f.Kind))
	}
	if f.Path == "" {
		return fmt.Errorf("fakebinance: fault %s needs a path", f.Kind)
	}
	if (f.Kind == FaultPartialFills || f.Kind == FaultLateVisible) && (f.Path != "/api/v3/order" || f.Method != http.MethodPost) {
		return fmt.Errorf("fakebinance: fault %s applies to POST /api/v3/order only", f.Kind)
	}
	if f.Times <= 0 {
		f.Times = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// FaultsServed returns how many requests each fault kind has hit.
func (s *Server) FaultsServed() map[FaultKind]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[FaultKind]int, len(s.faultsServed))
	for k, v := range s.faultsServed {
		out[k] = v
	}
	return out
}

// takeFault returns the first queued fault matching the request and uses
// one of its times. The caller holds s.mu.
func (s *Server) takeFault(method, path string) *Fault {
	for i, f := range s.faults {
		if f.Path != path || (f.Method != "" && f.Method != method) {
			continue
		}
		f.Times--
		if f.Times <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		s.faultsServed[f.Kind]++
		c := *f
		return &c
	}
	return nil
}

func retryAfter(w http.ResponseWriter, d time.Duration) {
	if d <= 0 {
		d = time.Second
	}
	w.Header().Set("Retry-After", strconv.Itoa(int((d+time.Second-1)/time.Second)))
}

// serveFault answers a fault that does not process the request.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f *Fault) {
	switch f.Kind {
	case FaultUnavailable:
		writeErr(w, http.StatusServiceUnavailable, -1007, MsgUnknownStatus)
	case FaultRateLimit:
		retryAfter(w, f.RetryAfter)
		writeErr(w, http.StatusTooManyRequests, -1003, MsgRateLimited)
	case FaultBan:
		d := f.RetryAfter
		if d <= 0 {
			d = time.Second
		}
		retryAfter(w, d)
		until := s.clock().Add(d).UnixMilli()
		writeErr(w, http.StatusTeapot, -1003, fmt.Sprintf("Way too much request weight used; IP banned until %d. Please use WebSocket Streams for live updates to avoid bans.", until))
	case FaultTimestamp:
		writeErr(w, http.StatusBadRequest, -1021, MsgTimestampAhead)
	case FaultInsufficient:
		writeErr(w, http.StatusBadRequest, -2010, MsgInsufficient)
	case FaultFilter:
		name := f.Filter
		if name == "" {
			name = "LOT_SIZE"
		}
		writeErr(w, http.StatusBadRequest, -1013, "Filter failure: "+name)
	case FaultHang:
		s.hang(r)
		writeErr(w, http.StatusServiceUnavailable, -1007, MsgUnknownStatus)
	case FaultMaintenance:
		writeErr(w, http.StatusServiceUnavailable, -1016, MsgMaintenance)
	case FaultDrop:
		panic(http.ErrAbortHandler)
	}
}
