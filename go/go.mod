module github.com/tiny-mp-cache/tiny-mp-cache

go 1.22
