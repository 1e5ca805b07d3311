// Package repocheck holds tests of the repository itself rather than of
// code: go.mod is tidy, and NOTICE names every module the binary links.
package repocheck
