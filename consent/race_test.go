//go:build race

package consent

const raceEnabled = true
