package apptest

import "path/filepath"

func filepathGlob(pattern string) ([]string, error) { return filepath.Glob(pattern) }
