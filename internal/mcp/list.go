package mcp

// Intrusive doubly linked lists: O(1) insertion, removal and reordering without allocating, so that evicting the
// oldest open request or session never scans.

// Each entry is in two lists at once; which says which of its links a list uses.
const (
	linkSession = iota // session.open
	linkAll            // Correlator.open
)

type link struct{ prev, next *entry }

type entryList struct {
	head, tail *entry
	len        int
	which      int // linkSession or linkAll
}

func (l *entryList) pushBack(e *entry) {
	lk := &e.links[l.which]
	lk.prev, lk.next = l.tail, nil
	if l.tail != nil {
		l.tail.links[l.which].next = e
	} else {
		l.head = e
	}
	l.tail = e
	l.len++
}

func (l *entryList) pushFront(e *entry) {
	lk := &e.links[l.which]
	lk.prev, lk.next = nil, l.head
	if l.head != nil {
		l.head.links[l.which].prev = e
	} else {
		l.tail = e
	}
	l.head = e
	l.len++
}

func (l *entryList) remove(e *entry) {
	lk := &e.links[l.which]
	if lk.prev != nil {
		lk.prev.links[l.which].next = lk.next
	} else {
		l.head = lk.next
	}
	if lk.next != nil {
		lk.next.links[l.which].prev = lk.prev
	} else {
		l.tail = lk.prev
	}
	lk.prev, lk.next = nil, nil
	l.len--
}

func (l *entryList) moveToFront(e *entry) {
	if l.head != e {
		l.remove(e)
		l.pushFront(e)
	}
}

func (l *entryList) moveToBack(e *entry) {
	if l.tail != e {
		l.remove(e)
		l.pushBack(e)
	}
}

// sessionList orders sessions by activity, least recent first.
type sessionList struct {
	head, tail *session
}

func (l *sessionList) pushBack(s *session) {
	s.prev, s.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = s
	} else {
		l.head = s
	}
	l.tail = s
}

func (l *sessionList) remove(s *session) {
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		l.head = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		l.tail = s.prev
	}
	s.prev, s.next = nil, nil
}

func (l *sessionList) moveToBack(s *session) {
	if l.tail != s {
		l.remove(s)
		l.pushBack(s)
	}
}
