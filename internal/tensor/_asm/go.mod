module github.com/mechlens/mechlens/internal/tensor/_asm

go 1.26.0
