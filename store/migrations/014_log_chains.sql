-- Keyed hash chains for the consent log and the audit log (hashchain).
-- hash_alg says how a row's row_hash was made: '' for the plain SHA-256 rows
-- written before this migration, 'hmac-sha256' for rows keyed with the
-- chain key, which is kept in a file outside the database. Old rows keep
-- '' and verify as what they are: unkeyed.
-- hash_alg: how row_hash was made ('' plain SHA-256, 'hmac-sha256' keyed)
-- 18.16 has no ADD COLUMN IF NOT EXISTS: hasColumn keeps this idempotent.
{{if not (hasColumn (printf "%s.consent_log" .Identified) "hash_alg")}}
ALTER TABLE {{.Identified}}.consent_log{{.OnCluster}} ADD COLUMN hash_alg String DEFAULT '';
{{end}}

-- The audit log becomes chains too: each process that writes it (a serve,
-- a command) appends to its own chain (chain, seq from 1, prev_hash,
-- row_hash). Rows written before this migration have chain '' and are
-- reported as unchained.
-- chain: the writing process's chain id
{{if not (hasColumn (printf "%s.audit_log" .Identified) "chain")}}
ALTER TABLE {{.Identified}}.audit_log{{.OnCluster}} ADD COLUMN chain String DEFAULT '';
{{end}}
-- seq: position in the chain, from 1
{{if not (hasColumn (printf "%s.audit_log" .Identified) "seq")}}
ALTER TABLE {{.Identified}}.audit_log{{.OnCluster}} ADD COLUMN seq UInt64 DEFAULT 0;
{{end}}
-- prev_hash: row_hash of the previous row of the chain
{{if not (hasColumn (printf "%s.audit_log" .Identified) "prev_hash")}}
ALTER TABLE {{.Identified}}.audit_log{{.OnCluster}} ADD COLUMN prev_hash String DEFAULT '';
{{end}}
-- row_hash: keyed hash of this row and prev_hash
{{if not (hasColumn (printf "%s.audit_log" .Identified) "row_hash")}}
ALTER TABLE {{.Identified}}.audit_log{{.OnCluster}} ADD COLUMN row_hash String DEFAULT '';
{{end}}
-- hash_alg: how row_hash was made ('' plain SHA-256, 'hmac-sha256' keyed)
{{if not (hasColumn (printf "%s.audit_log" .Identified) "hash_alg")}}
ALTER TABLE {{.Identified}}.audit_log{{.OnCluster}} ADD COLUMN hash_alg String DEFAULT '';
{{end}}
