package postgres

import "time"

// ForgeAuditEntry returns entry seq of tenantID's log as a forger with the
// hash function would make it: linked to prev, its hash right.
func ForgeAuditEntry(tenantID string, seq int64, prev []byte) AuditRecord {
	r := AuditRecord{
		Seq: seq, At: time.Now().UTC().Truncate(time.Microsecond), TenantID: tenantID,
		Action: "forged", TargetType: "thing", TargetID: "x", PrevHash: prev,
	}
	r.Hash = r.hash()
	return r
}
