module github.com/sezim-analytics/sezim

go 1.26.8
