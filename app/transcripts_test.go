package app_test

import (
	"testing"

	"gatewayd/app/apptest"
)

// TestTranscripts replays every golden transcript in testdata/transcripts on a fresh server
// of the dialect under test.
func TestTranscripts(t *testing.T) {
	apptest.RunDir(t, "../testdata/transcripts/*.txt")
}
