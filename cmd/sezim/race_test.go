//go:build race

package main

// raceEnabled reports a race-detector build, whose shadow memory and
// bookkeeping grow a process several times over.
const raceEnabled = true
