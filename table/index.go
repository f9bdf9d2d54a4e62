package table

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
)

// liveIndex holds the live rows by key. It is a map of the key's 64-bit
// hash (Key.hash): with the 48-byte keys themselves, Go's map hashed and
// compared whole keys on every probe, and an event probes at least once.
// A row whose hash another row already has goes to clash, keyed by its
// tuple. Each row keeps its key, which tells whether the row
// under a hash is the one asked for.
type liveIndex struct {
	seed   uint64
	mask   uint64 // all ones; a test narrows it to make hashes clash
	byHash map[uint64]*Conn
	clash  map[Key]*Conn
}

func newLiveIndex() liveIndex {
	return liveIndex{seed: rand.Uint64(), mask: ^uint64(0), byHash: make(map[uint64]*Conn),
		clash: make(map[Key]*Conn)}
}

func (x *liveIndex) get(k Key) *Conn {
	if c := x.byHash[k.hash(x.seed)&x.mask]; c != nil && c.key == k {
		return c
	}
	if len(x.clash) == 0 {
		return nil
	}
	return x.clash[k]
}

// put makes c k's row, in place of any other.
func (x *liveIndex) put(k Key, c *Conn) {
	c.key = k
	h := k.hash(x.seed) & x.mask
	if cur := x.byHash[h]; cur == nil || cur.key == k {
		x.byHash[h] = c
		if len(x.clash) > 0 {
			delete(x.clash, k) // from when another key held the hash
		}
		return
	}
	x.clash[k] = c
}

// del removes k's row if it is c.
func (x *liveIndex) del(k Key, c *Conn) {
	h := k.hash(x.seed) & x.mask
	if cur := x.byHash[h]; cur == c && cur != nil && cur.key == k {
		delete(x.byHash, h)
	} else if len(x.clash) > 0 && x.clash[k] == c {
		delete(x.clash, k)
	}
}

func (x *liveIndex) len() int { return len(x.byHash) + len(x.clash) }

// each calls yield with every row and its key; yield may delete the row.
func (x *liveIndex) each(yield func(Key, *Conn) bool) {
	for _, c := range x.byHash {
		if !yield(c.key, c) {
			return
		}
	}
	for k, c := range x.clash {
		if !yield(k, c) {
			return
		}
	}
}

// hash mixes the key's words with 128-bit multiplies, as wyhash does: the
// key has a fixed layout, so this is cheaper than hashing its 48 bytes
// generically. Seeded per table, so a peer that picks its addresses and
// ports cannot aim its tuples at one hash (and if it did, they would only
// go to clash).
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
