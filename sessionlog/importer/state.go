package importer

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// importState is the resume file: per input, how far it was acknowledged.
type importState struct {
	Version int                    `json:"version"`
	Inputs  map[string]*inputState `json:"inputs"`
}

type inputState struct {
	Identity string `json:"identity"`
	Offset   int64  `json:"offset"`
	Lines    int    `json:"lines"`
	Done     bool   `json:"done"`
}

func loadState(path string) (*importState, error) {
	st := &importState{Version: 1, Inputs: map[string]*inputState{}}
	if path == "" {
		return st, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read state %q: %w", path, err)
	}
	if err := json.Unmarshal(data, st); err != nil || st.Inputs == nil {
		return nil, fmt.Errorf("cannot use state %q: not a sezim import state file", path)
	}
	return st, nil
}

// save writes the state atomically: a crash leaves the old or the new file.
func (s *importState) save(path string) error {
	if path == "" {
		return nil
	}
	data, _ := json.MarshalIndent(s, "", "  ")
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("cannot write state %q: %w", path, err)
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("cannot write state %q: %w", path, err)
	}
	return nil
}
