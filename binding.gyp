{
  "targets": [
    {
      "target_name": "hmac_sha256",
      "sources": ["native/hmac_sha256.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
