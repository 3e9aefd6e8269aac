package local_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fieldcrypt/fieldcrypt/kms/local"
)

// Regression tests for finding L9 of the 2026-11 security review: a key
// file was trusted on its mode bits alone.

// keyValue returns a piece of the key material in the file at path, to
// check that no error ever holds it.
func keyValue(t *testing.T, path string) string {
	t.Helper()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.Index(string(file), `"value":"`)
	if i < 0 {
		t.Fatal("key file has no value field; update this test")
	}
	return string(file)[i+9 : i+9+20]
}

// wantUnsafe checks that err refuses path as unsafe, names it, and holds
// no key bytes.
func wantUnsafe(t *testing.T, err error, path, secret string) {
	t.Helper()
	var ue *local.UnsafeFileError
	if !errors.Is(err, local.ErrUnsafeKeyFile) || !errors.As(err, &ue) {
		t.Fatalf("Open = %v, want an *UnsafeFileError", err)
	}
	if ue.Path != path || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q names %q, want %q", err, ue.Path, path)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error %q holds key bytes", err)
	}
}

// newKeyFile creates a key file in a fresh private directory.
func newKeyFile(t *testing.T) (dir, path, secret string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "kek.json")
	if _, err := local.Open(path); err != nil {
		t.Fatal(err)
	}
	return dir, path, keyValue(t, path)
}

func TestReviewL9RefusesSymlink(t *testing.T) {
	dir, real, secret := newKeyFile(t)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(real, link); err != nil {
		t.Skipf("cannot make a symlink: %v", err)
	}
	_, err := local.Open(link)
	wantUnsafe(t, err, link, secret)

	// A dangling link is refused too, and Open creates nothing through it.
	dangling := filepath.Join(dir, "dangling.json")
	target := filepath.Join(dir, "planted-target.json")
	if err := os.Symlink(target, dangling); err != nil {
		t.Fatal(err)
	}
	_, err = local.Open(dangling)
	wantUnsafe(t, err, dangling, "")
	if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open created the link's target: %v", err)
	}
	// The real file still opens.
	if _, err := local.Open(real); err != nil {
		t.Errorf("Open(real file) = %v", err)
	}
}

func TestReviewL9RefusesFileOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the file to another user")
	}
	_, path, secret := newKeyFile(t)
	if err := os.Chown(path, 4242, 4242); err != nil {
		t.Skipf("chown: %v", err)
	}
	_, err := local.Open(path)
	wantUnsafe(t, err, path, secret)
	if !strings.Contains(err.Error(), "4242") {
		t.Errorf("error %q does not say who owns the file", err)
	}
}

func TestReviewL9RefusesDirectoryOthersCanWrite(t *testing.T) {
	for _, mode := range []os.FileMode{0o777, 0o770, 0o722, 0o730} {
		dir, path, secret := newKeyFile(t)
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		_, err := local.Open(path)
		wantUnsafe(t, err, dir, secret)

		// Nor is a new key created in such a directory.
		fresh := filepath.Join(dir, "new.json")
		_, err = local.Open(fresh)
		wantUnsafe(t, err, dir, "")
		if _, err := os.Lstat(fresh); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("mode %v: Open created a key in the directory: %v", mode, err)
		}
	}

	// With the sticky bit (like /tmp), others cannot remove or replace the
	// owner's file: accepted, since the file itself must be the owner's.
	dir, path, _ := newKeyFile(t)
	if err := os.Chmod(dir, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Open(path); err != nil {
		t.Errorf("Open in a sticky world-writable directory = %v", err)
	}
	if _, err := local.Open(filepath.Join(dir, "new.json")); err != nil {
		t.Errorf("Open of a new key in a sticky directory = %v", err)
	}
}

func TestReviewL9RefusesDirectoryOwnedByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the directory to another user")
	}
	dir, path, secret := newKeyFile(t)
	if err := os.Chown(dir, 4242, 4242); err != nil {
		t.Skipf("chown: %v", err)
	}
	_, err := local.Open(path)
	wantUnsafe(t, err, dir, secret)
}

func TestReviewL9RefusesWhatIsNotAFile(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "kek.json")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := local.Open(sub)
	wantUnsafe(t, err, sub, "")
}
