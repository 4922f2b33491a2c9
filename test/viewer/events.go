package viewer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// recentRecords is how many live records a page that (re)connects is sent
// first; older ones it finds in the history.
const recentRecords = 200

// keepAlive is the interval of comment lines on an idle event stream, so
// nothing between the page and the viewer times it out.
const keepAlive = 20 * time.Second

// hub hands live records to every connected page. A page too slow to take
// its records is disconnected rather than allowed to hold the others up; its
// EventSource reconnects and is sent what it missed.
type hub struct {
	// epoch tells a page that reconnects after a restart that the event ids
	// it remembers belong to an earlier process.
	epoch string

	mu     sync.Mutex
	last   int64
	recent []event
	subs   map[chan event]bool
	closed bool
}

type event struct {
	id     int64
	record Record
}

func newHub() *hub {
	return &hub{epoch: strconv.FormatInt(time.Now().UnixNano(), 36), subs: map[chan event]bool{}}
}

func (h *hub) add(r Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.last++
	e := event{h.last, r}
	h.recent = append(h.recent, e)
	if len(h.recent) > recentRecords {
		h.recent = h.recent[len(h.recent)-recentRecords:]
	}
	for sub := range h.subs {
		select {
		case sub <- e:
		default:
			h.drop(sub)
		}
	}
}

// subscribe returns the recent records after the event id lastID (all of
// them for another epoch's id) and a channel of the records to come.
func (h *hub) subscribe(lastID string) ([]event, chan event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var after int64
	if epoch, n, ok := strings.Cut(lastID, "-"); ok && epoch == h.epoch {
		after, _ = strconv.ParseInt(n, 10, 64)
	}
	var replay []event
	for _, e := range h.recent {
		if e.id > after {
			replay = append(replay, e)
		}
	}
	ch := make(chan event, 64)
	if h.closed {
		close(ch)
	} else {
		h.subs[ch] = true
	}
	return replay, ch
}

func (h *hub) unsubscribe(ch chan event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[ch] {
		h.drop(ch)
	}
}

func (h *hub) drop(ch chan event) {
	delete(h.subs, ch)
	close(ch)
}

// close ends every stream, so the HTTP server can shut down.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for sub := range h.subs {
		h.drop(sub)
	}
}

// events is the stream of live records (text/event-stream), each an event
// named "record" whose data is the Record as JSON.
func (v *server) events(w http.ResponseWriter, r *http.Request) {
	replay, ch := v.hub.subscribe(r.Header.Get("Last-Event-ID"))
	defer v.hub.unsubscribe(ch)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	send := func(e event) error {
		data, err := json.Marshal(e.record)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "id: %s-%d\nevent: record\ndata: %s\n\n", v.hub.epoch, e.id, data)
		return err
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	for _, e := range replay {
		if send(e) != nil {
			return
		}
	}
	if rc.Flush() != nil {
		return
	}
	tick := time.NewTicker(keepAlive)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
		case e, ok := <-ch:
			if !ok || send(e) != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}
