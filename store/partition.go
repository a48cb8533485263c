package store

import (
	"fmt"
	"strconv"
)

// DropPartitionSQL returns the statement that drops one partition of
// table, in the one spelling that both ClickHouse 18.16 and 26.x accept:
//
//   - key is a Day for a table PARTITION BY a Date column (events, by
//     salt_day): DROP PARTITION 'YYYY-MM-DD';
//   - key is an integer for PARTITION BY toYYYYMM(...) (the aggregates):
//     DROP PARTITION 202405. A quoted '202405' is rejected by 18.16 as a
//     type mismatch.
//
// Dropping a partition that does not exist is not an error on either
// version. It returns an error for a malformed table name or another key
// type.
func DropPartitionSQL(table string, key any) (string, error) {
	if !isQualifiedIdent(table) {
		return "", fmt.Errorf("cannot drop partition: invalid table name")
	}
	var expr string
	switch k := key.(type) {
	case Day:
		expr = "'" + k.String() + "'"
	case int:
		expr = strconv.FormatInt(int64(k), 10)
	case int64:
		expr = strconv.FormatInt(k, 10)
	case uint32:
		expr = strconv.FormatUint(uint64(k), 10)
	case uint64:
		expr = strconv.FormatUint(k, 10)
	default:
		return "", fmt.Errorf("cannot drop partition of %s: unsupported key type %T", table, key)
	}
	return "ALTER TABLE " + table + " DROP PARTITION " + expr, nil
}

// MonthKey is the toYYYYMM partition key of d, for DropPartitionSQL.
func MonthKey(d Day) uint32 { return uint32(d.Year*100 + int(d.Month)) }
