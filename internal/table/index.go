package table

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// liveIndex holds the live rows by key, in a hashIndex of the key's 64-bit
// hash (Key.hash): with the 48-byte keys themselves, Go's map hashed and
// compared whole keys on every probe, and an event probes at least once.
// Each row keeps its key, which tells whether the row under a hash is the
// one asked for.
type liveIndex struct {
	seed uint64
	mask uint64 // all ones; a test narrows it to make hashes clash
	rows hashIndex[*Conn]
}

func newLiveIndex() liveIndex {
	return liveIndex{seed: rand.Uint64(), mask: ^uint64(0)}
}

// lookup is k's slot and hash, and whether k has a row.
func (x *liveIndex) lookup(k Key) (slot int, h uint64, found bool) {
	h = k.hash(x.seed) & x.mask
	slot, found = x.rows.find(h, func(c *Conn) bool { return c.key == k })
	return slot, h, found
}

func (x *liveIndex) get(k Key) *Conn {
	slot, _, ok := x.lookup(k)
	if !ok {
		return nil
	}
	return x.rows.slots[slot].row
}

// put makes c k's row, in place of any other.
func (x *liveIndex) put(k Key, c *Conn) {
	c.key = k
	slot, h, ok := x.lookup(k)
	if ok {
		x.rows.slots[slot].row = c
		return
	}
	x.rows.insert(h, c)
}

// del removes k's row if it is c.
func (x *liveIndex) del(k Key, c *Conn) {
	if slot, _, ok := x.lookup(k); ok && x.rows.slots[slot].row == c {
		x.rows.remove(slot)
	}
}

func (x *liveIndex) len() int { return x.rows.len() }

// each calls yield with every row and its key. yield must not change the
// index.
func (x *liveIndex) each(yield func(Key, *Conn) bool) {
	x.rows.each(func(c *Conn) bool { return yield(c.key, c) })
}

// hash mixes the key's words with 128-bit multiplies, as wyhash does: the
// key has a fixed layout, so this is cheaper than hashing its 48 bytes
// generically. Seeded per table, so a peer that picks its addresses and
// ports cannot aim its tuples at one hash (and if it did, they would only
// share a probe sequence).
func (k *Key) hash(seed uint64) uint64 {
	const (
		c0 = 0xa0761d6478bd642f
		c1 = 0xe7037ed1a0b428db
		c2 = 0x8ebc6af09c88c6e3
		c3 = 0x589965cc75374cc3
	)
	le := binary.LittleEndian
	ports := uint64(k.LPort) | uint64(k.RPort)<<16
	if k.V6 {
		ports |= 1 << 32
	}
	h := mum(le.Uint64(k.Local[:8])^seed^c0, le.Uint64(k.Local[8:])^c1)
	h = mum(h^le.Uint64(k.Remote[:8])^c2, le.Uint64(k.Remote[8:])^c3)
	return mum(h^ports^c1, k.Inode^c2)
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
