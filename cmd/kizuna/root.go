package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kizuna-dev/kizuna/pkg/version"
)

func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "kizuna",
		Short: "Kizuna (絆) is a Kubernetes-native customer data platform and campaign engine",
		Long: `Kizuna unifies customer records from many systems into one profile per customer,
selects audiences by attributes and behaviour, and delivers campaigns through email, SMS,
LINE, push and webhooks, all declared as Kubernetes resources.`,
		SilenceUsage: true,
	}
	root.AddCommand(newManagerCommand(), newWorkerCommand(), newRunCommand(), newResolveCommand(), newExplainCommand(), newExportCommand(), newPreviewCommand(), newVersionCommand())
	return root
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this build",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(cmd.OutOrStdout(), "kizuna %s (commit %s)\n", version.Version, version.Commit())
			return err
		},
	}
}
