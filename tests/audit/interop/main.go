// Command interop checks paymesh's Python transparency log against golang.org/x/mod/sumdb/tlog and sumdb/note.
// It reads one JSON request on stdin (leaves, proofs and notes made by Python) and writes one JSON answer on stdout:
// Go's own stored hashes, roots, proofs and signed notes for the same input, and its verdict on each Python value.
// Build in GOPATH mode against Debian's golang-golang-x-mod-dev:
//   GOPATH=/usr/share/gocode GO111MODULE=off go build -o interop main.go
package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

type recordCase struct {
	Size     int64    `json:"size"`
	Index    int64    `json:"index"`
	Root     []byte   `json:"root"`
	LeafHash []byte   `json:"leaf_hash"`
	Proof    [][]byte `json:"proof"`
}

type treeCase struct {
	Size    int64    `json:"size"`
	OldSize int64    `json:"old_size"`
	Root    []byte   `json:"root"`
	OldRoot []byte   `json:"old_root"`
	Proof   [][]byte `json:"proof"`
}

type noteCase struct {
	Message   []byte   `json:"message"`
	Verifiers []string `json:"verifiers"`
}

type signCase struct {
	Text  string   `json:"text"`
	SKeys []string `json:"skeys"`
}

type request struct {
	Leaves       [][]byte     `json:"leaves"`
	RecordProofs []recordCase `json:"record_proofs"`
	TreeProofs   []treeCase   `json:"tree_proofs"`
	Notes        []noteCase   `json:"notes"`
	Sign         []signCase   `json:"sign"`
	Generate     []string     `json:"generate"`
}

type noteVerdict struct {
	OK    bool   `json:"ok"`
	Text  string `json:"text"`
	Error string `json:"error"`
}

type generated struct {
	SKey string `json:"skey"`
	VKey string `json:"vkey"`
	Note []byte `json:"note"`
}

type response struct {
	StoredHashes   [][]byte      `json:"stored_hashes"`
	TreeHashes     [][]byte      `json:"tree_hashes"`
	RecordProofs   [][][]byte    `json:"record_proofs"`
	TreeProofs     [][][]byte    `json:"tree_proofs"`
	Checkpoints    []string      `json:"checkpoints"`
	RecordVerdicts []string      `json:"record_verdicts"`
	TreeVerdicts   []string      `json:"tree_verdicts"`
	NoteVerdicts   []noteVerdict `json:"note_verdicts"`
	Signed         [][]byte      `json:"signed"`
	Generated      []generated   `json:"generated"`
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fail(err)
	}
	var resp response
	var stored []tlog.Hash
	reader := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(indexes))
		for i, x := range indexes {
			if x < 0 || x >= int64(len(stored)) {
				return nil, fmt.Errorf("index %d out of range", x)
			}
			out[i] = stored[x]
		}
		return out, nil
	})
	for n, leaf := range req.Leaves {
		hashes, err := tlog.StoredHashes(int64(n), leaf, reader)
		if err != nil {
			fail(err)
		}
		stored = append(stored, hashes...)
	}
	size := int64(len(req.Leaves))
	for _, h := range stored {
		resp.StoredHashes = append(resp.StoredHashes, bytesOf(h))
	}
	for t := int64(0); t <= size; t++ {
		root, err := tlog.TreeHash(t, reader)
		if err != nil {
			fail(err)
		}
		resp.TreeHashes = append(resp.TreeHashes, bytesOf(root))
		resp.Checkpoints = append(resp.Checkpoints, string(tlog.FormatTree(tlog.Tree{N: t, Hash: root})))
	}
	for t := int64(1); t <= size; t++ {
		for i := int64(0); i < t; i++ {
			p, err := tlog.ProveRecord(t, i, reader)
			if err != nil {
				fail(err)
			}
			resp.RecordProofs = append(resp.RecordProofs, hashesOf(p))
		}
		for n := int64(1); n <= t; n++ {
			p, err := tlog.ProveTree(t, n, reader)
			if err != nil {
				fail(err)
			}
			resp.TreeProofs = append(resp.TreeProofs, hashesOf(p))
		}
	}
	for _, c := range req.RecordProofs {
		resp.RecordVerdicts = append(resp.RecordVerdicts,
			verdict(tlog.CheckRecord(toHashes(c.Proof), c.Size, toHash(c.Root), c.Index, toHash(c.LeafHash))))
	}
	for _, c := range req.TreeProofs {
		resp.TreeVerdicts = append(resp.TreeVerdicts,
			verdict(tlog.CheckTree(toHashes(c.Proof), c.Size, toHash(c.Root), c.OldSize, toHash(c.OldRoot))))
	}
	for _, c := range req.Notes {
		resp.NoteVerdicts = append(resp.NoteVerdicts, openNote(c))
	}
	for _, c := range req.Sign {
		var signers []note.Signer
		for _, skey := range c.SKeys {
			s, err := note.NewSigner(skey)
			if err != nil {
				fail(err)
			}
			signers = append(signers, s)
		}
		msg, err := note.Sign(&note.Note{Text: c.Text}, signers...)
		if err != nil {
			fail(err)
		}
		resp.Signed = append(resp.Signed, msg)
	}
	for _, name := range req.Generate {
		skey, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			fail(err)
		}
		s, err := note.NewSigner(skey)
		if err != nil {
			fail(err)
		}
		text := string(tlog.FormatTree(tlog.Tree{N: size, Hash: toHash(resp.TreeHashes[size])}))
		msg, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			fail(err)
		}
		resp.Generated = append(resp.Generated, generated{SKey: skey, VKey: vkey, Note: msg})
	}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fail(err)
	}
}

func openNote(c noteCase) noteVerdict {
	var verifiers []note.Verifier
	for _, vkey := range c.Verifiers {
		v, err := note.NewVerifier(vkey)
		if err != nil {
			return noteVerdict{Error: "verifier: " + err.Error()}
		}
		verifiers = append(verifiers, v)
	}
	n, err := note.Open(c.Message, note.VerifierList(verifiers...))
	if err != nil {
		return noteVerdict{Error: err.Error()}
	}
	return noteVerdict{OK: true, Text: n.Text}
}

// verdict names CheckRecord/CheckTree's outcome: "ok", "invalid" (the proof does not verify) or "error: ..." (bad input).
func verdict(err error) string {
	switch {
	case err == nil:
		return "ok"
	case err.Error() == "invalid transparency proof":
		return "invalid"
	default:
		return "error: " + err.Error()
	}
}

func toHash(b []byte) tlog.Hash {
	var h tlog.Hash
	if len(b) != tlog.HashSize {
		fail(fmt.Errorf("hash of %d bytes", len(b)))
	}
	copy(h[:], b)
	return h
}

func toHashes(list [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, 0, len(list))
	for _, b := range list {
		out = append(out, toHash(b))
	}
	return out
}

func bytesOf(h tlog.Hash) []byte { return append([]byte(nil), h[:]...) }

func hashesOf(list []tlog.Hash) [][]byte {
	out := make([][]byte, 0, len(list))
	for _, h := range list {
		out = append(out, bytesOf(h))
	}
	return out
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "interop:", err)
	os.Exit(1)
}
