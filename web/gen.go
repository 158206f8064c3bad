package web

//go:generate go run ../internal/webbuild
