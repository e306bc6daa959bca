package config

import (
	"strings"
	"testing"
	"time"
)

// TestMaintenanceWindows: windows read from the config file; a window that
// does not parse is a config error naming the file and its line.
func TestMaintenanceWindows(t *testing.T) {
	c, err := Parse("warden.yaml", []byte("mode: paper\nmaintenance:\n  - every: \"Wed 02:00-04:00\"\n    tz: UTC\n  - from: 2026-03-01T00:00:00Z\n    to: 2026-03-01T06:00:00Z\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(c.Maintenance) != 2 {
		t.Fatalf("Maintenance = %+v; want 2 windows", c.Maintenance)
	}
	wed := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	if _, ok := c.Maintenance.Active(wed); !ok {
		t.Errorf("Active(%s) = false; want the Wednesday window", wed)
	}
	if _, ok := c.Maintenance.Active(wed.Add(2 * time.Hour)); ok {
		t.Errorf("Active(%s) = true; the window ends at 04:00", wed.Add(2*time.Hour))
	}
	if len(Default().Maintenance) != 0 {
		t.Error("the default config has maintenance windows")
	}
	_, err = Parse("warden.yaml", []byte("mode: paper\nmaintenance:\n  - every: \"Wed 02:00-04:00\"\n  - every: \"Wed 2am-4am\"\n"))
	if err == nil || !strings.Contains(err.Error(), "config warden.yaml") || !strings.Contains(err.Error(), "line 4: maintenance window") {
		t.Errorf("Parse(bad window) error = %v; want the file and line 4", err)
	}
}

func TestEmailConfig(t *testing.T) {
	c, err := Parse("warden.yaml", []byte("notify:\n  email:\n    host: smtp.example.com\n    username_env: SMTP_USER\n    password_env: SMTP_PASSWORD\n    from: warden@example.com\n    to: [ops@example.com]\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if e := c.Notify.Email; e.Host != "smtp.example.com" || e.PasswordEnv != "SMTP_PASSWORD" || len(e.To) != 1 {
		t.Errorf("notify.email = %+v", e)
	}
	for src, want := range map[string]string{
		"notify:\n  email:\n    from: w@example.com\n    to: [a@example.com]\n":                                   "notify.email.host: required",
		"notify:\n  email:\n    host: h\n    to: [a@example.com]\n":                                               "notify.email.from: required",
		"notify:\n  email:\n    host: h\n    from: w@example.com\n":                                               "notify.email.to: at least one",
		"notify:\n  email:\n    host: h\n    from: w@example.com\n    to: [a@example.com]\n    security: none\n":  `"none" is not starttls or tls`,
		"notify:\n  email:\n    host: h\n    from: w@example.com\n    to: [a@example.com]\n    port: 70000\n":     "70000 is not a TCP port",
		"notify:\n  email:\n    host: h\n    from: w@example.com\n    to: [a@example.com]\n    password_env: P\n": "both username_env and password_env",
	} {
		if _, err := Parse("warden.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want %q", src, err, want)
		}
	}
}

func TestAlertsConfig(t *testing.T) {
	c, err := Parse("warden.yaml", []byte("alerts:\n  day_loss_pct: 50\n  exposure_pct: -1\n  model_error_window: 40\n"))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Alerts.DayLossPct.String() != "50" || c.Alerts.ExposurePct.String() != "-1" || c.Alerts.ModelErrorWindow != 40 || !c.Alerts.DrawdownPct.IsZero() {
		t.Errorf("alerts = %+v", c.Alerts)
	}
	for src, want := range map[string]string{
		"alerts:\n  drawdown_pct: 100.5\n":    "alerts.drawdown_pct: 100.5 is over 100",
		"alerts:\n  model_error_window: -1\n": "alerts.model_error_window: -1 is outside",
		"alerts:\n  day_loss: 50\n":           "day_loss",
	} {
		if _, err := Parse("warden.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v; want %q", src, err, want)
		}
	}
}
