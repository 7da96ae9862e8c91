package command

import (
	"errors"
	"fmt"
	"strings"
)

// placeholderHTTPToken is the value .env.example gives VIBER_HTTP_TOKEN. A
// gateway refuses it, so a copied example file cannot put a stack on line
// with a token anyone can read in the repository.
const placeholderHTTPToken = "change-me-to-a-long-random-string"

// errPlaceholderToken means --http-token is the example file's placeholder.
var errPlaceholderToken = errors.New("the HTTP token is the placeholder from .env.example")

// checkHTTPToken refuses the example file's placeholder token.
func checkHTTPToken(token string) error {
	if strings.EqualFold(strings.TrimSpace(token), placeholderHTTPToken) {
		return fmt.Errorf("--http-token (VIBER_HTTP_TOKEN): %w; set a random one, e.g. `openssl rand -hex 24`", errPlaceholderToken)
	}
	return nil
}
