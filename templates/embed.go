// Package templates embeds the template trees. Each tree mirrors the
// repository it generates: files ending in .tmpl are rendered, every other
// file is copied verbatim.
package templates

import "embed"

// FS holds every template tree, dotfiles included.
//
//go:embed all:app
var FS embed.FS
