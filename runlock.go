package gotune

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
)

// LockFile is the lock a training run holds in its run folder: an OS file
// lock (released by the kernel when the process ends, however it ends)
// on a file holding the owner's pid.
const LockFile = ".gotune.lock"

// runLock is a held run-folder lock.
type runLock struct {
	fl *flock.Flock
	// stale is the pid a previous, dead owner left in the file (0 if none).
	stale int
}

// lockRunDir creates the run folder if needed and takes its lock. A second
// process on the same folder is refused with the first one's pid; a lock
// file left by a process that died (a crash, kill -9) holds no OS lock
// and is taken over. Creating the folder and the lock file also proves
// the folder writable, so a read-only --out fails here, before training.
func lockRunDir(dir string) (*runLock, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run folder %s: %w", dir, unwrapPath(err))
	}
	path := filepath.Join(dir, LockFile)
	prev := readPid(path)
	fl := flock.New(path, flock.SetPermissions(0o644))
	ok, err := fl.TryLock()
	if err != nil {
		return nil, fmt.Errorf("run folder %s: cannot create the lock file %s: %w", dir, LockFile, unwrapPath(err))
	}
	if !ok {
		who := "another gotune process"
		if prev > 0 {
			who = fmt.Sprintf("another gotune process (pid %d)", prev)
		}
		return nil, fmt.Errorf("run folder %s is in use by %s; wait for it to finish or choose another --out (lock file %s)", dir, who, path)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		fl.Unlock()
		return nil, fmt.Errorf("run folder %s: cannot write the lock file %s: %w", dir, LockFile, unwrapPath(err))
	}
	l := &runLock{fl: fl}
	if prev > 0 && prev != os.Getpid() {
		l.stale = prev
	}
	return l, nil
}

// unlock empties the lock file and releases the lock. The file stays:
// removing it would let a process that opened it just before take a lock
// on a deleted file while a third creates a new one.
func (l *runLock) unlock() {
	if l == nil {
		return
	}
	os.Truncate(l.fl.Path(), 0)
	l.fl.Unlock()
}

// readPid returns the pid recorded in a lock file, or 0.
func readPid(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// unwrapPath drops the *PathError wrapper (the caller names the path).
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
