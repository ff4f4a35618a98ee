package mail

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/acme/shop-api/internal/jobs"
)

// Sealed is the argument of the job that sends an email: the Message,
// encrypted. Queued email waits in the database and the broker, and some of
// it carries secrets (an invitation's token), which the app otherwise
// stores only as hashes; sealed, the queue holds nothing readable.
type Sealed struct {
	Box []byte `json:"box"`
}

// Kind implements jobs.Args.
func (Sealed) Kind() string { return "mail.send" }

// JobOptions implements jobs.Optioner: mail has a queue of its own, so a
// backlog of mail never delays other jobs.
func (Sealed) JobOptions() jobs.Options {
	return jobs.Options{Queue: jobs.QueueEmail, MaxAttempts: 8}
}

// Sealer seals and opens messages with AES-256-GCM under a key derived from
// SECRET_KEY (HKDF-SHA256, its own label, so no other use of SECRET_KEY
// shares the key).
type Sealer struct {
	aead cipher.AEAD
}

// sealLabel binds boxes to this use and format.
const sealLabel = "mail.send v1"

// NewSealer returns the Sealer of secretKey.
func NewSealer(secretKey string) (*Sealer, error) {
	if secretKey == "" {
		return nil, errors.New("mail: sealing needs SECRET_KEY")
	}
	key, err := hkdf.Key(sha256.New, []byte(secretKey), nil, sealLabel, 32)
	if err != nil {
		return nil, fmt.Errorf("mail: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts m under a fresh random nonce.
func (s *Sealer) Seal(m Message) (Sealed, error) {
	plain, err := json.Marshal(m)
	if err != nil {
		return Sealed{}, fmt.Errorf("mail: encode: %w", err)
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return Sealed{Box: s.aead.Seal(nonce, nonce, plain, []byte(sealLabel))}, nil
}

// errUnsealable is the failure of a box this key cannot open: sealed with
// another SECRET_KEY, or tampered with. Another attempt will not help.
var errUnsealable = errors.New("mail: the queued email cannot be opened (sealed with another SECRET_KEY, or altered)")

// Open decrypts a Sealed message.
func (s *Sealer) Open(box Sealed) (Message, error) {
	n := s.aead.NonceSize()
	if len(box.Box) < n+s.aead.Overhead() {
		return Message{}, errUnsealable
	}
	plain, err := s.aead.Open(nil, box.Box[:n], box.Box[n:], []byte(sealLabel))
	if err != nil {
		return Message{}, errUnsealable
	}
	var m Message
	if err := json.Unmarshal(plain, &m); err != nil {
		return Message{}, fmt.Errorf("mail: decode: %w", err)
	}
	return m, nil
}
