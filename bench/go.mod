module github.com/fastvae/fastvae/bench

go 1.26.8

require github.com/fastvae/fastvae v0.0.0

require (
	github.com/klauspost/cpuid/v2 v2.4.2 // indirect
	golang.org/x/sys v0.49.0 // indirect
	gonum.org/v1/gonum v0.17.0
)

replace github.com/fastvae/fastvae => ../
