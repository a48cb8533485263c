// Package csvcell keeps the cells of the dashboards' CSV exports from being
// read as formulas.
package csvcell

// Safe keeps a spreadsheet from reading a value as a formula: a UTM
// value or a page path comes from the internet.
func Safe(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r') {
		return "'" + v
	}
	return v
}
