module headwater.example/go-files

go 1.27
