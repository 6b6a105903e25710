package server

import (
	"testing"
	"time"
)

// INFO's CPU times read as Redis writes them: seconds with six decimals.
func TestCPUSecondsFormat(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0.000000"},
		{1500*time.Millisecond + 7*time.Microsecond + 999, "1.500007"},
		{90 * time.Second, "90.000000"},
	} {
		if got := seconds(tc.d); got != tc.want {
			t.Errorf("seconds(%v) = %q; want %q", tc.d, got, tc.want)
		}
	}
}

// This process has run code by now, so it has used some CPU time.
func TestCPUUsageOfThisProcess(t *testing.T) {
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
	}
	if self, _ := cpuUsage(); self.user+self.sys <= 0 {
		t.Fatalf("cpuUsage() = %+v after 20 ms of work", self)
	}
}
