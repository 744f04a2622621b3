package apptest

import (
	"fmt"
	"time"
)

func init() {
	// @today VAR: the current day in UTC, YYYY-MM-DD.
	// @thisweek VAR: the Monday of the current week in UTC, YYYY-MM-DD.
	Directives["today"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 1 {
			return fmt.Errorf("@today VAR")
		}
		vars[args[0]] = time.Now().UTC().Format(time.DateOnly)
		return nil
	}
	Directives["thisweek"] = func(e *Env, args []string, vars map[string]string) error {
		if len(args) != 1 {
			return fmt.Errorf("@thisweek VAR")
		}
		t := time.Now().UTC()
		vars[args[0]] = t.AddDate(0, 0, -((int(t.Weekday()) + 6) % 7)).Format(time.DateOnly)
		return nil
	}
}
