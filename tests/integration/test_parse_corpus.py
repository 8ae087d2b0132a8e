"""test_parse_corpus - `mailtrigger parse` over the public e-mail corpus.

Runs the real binary, ``$MAILTRIGGER parse FILE``, on every file in
``../shared/corpus/email/`` (199 messages copied from the test suites of
GMime, MimeKit, CPython, mail, mailparser and mail-mime-parser, many of
them deliberately broken; see its SOURCES.md) and checks that each one
parses: exit status 0, nothing on stderr (a sanitizer report would be
there), output that is valid UTF-8 and valid JSON, with the event's
"message" object and every field docs/event.md lists. The same message
read from standard input (no FILE) must give the same output.

The corpus lives beside the checkout (``$MT_SOURCE_DIR/../shared``), as
in CI; a missing corpus fails the test rather than skipping it.
"""

import json
import os
import subprocess
import unittest

import mtharness

TIMEOUT = 60  # seconds per message, generous for the ASan build

FIELDS = {
    "message_id": (str, type(None)),
    "date": (str, type(None)),
    "date_iso": (str, type(None)),
    "subject": (str, type(None)),
    "from": (dict, type(None)),
    "reply_to": (dict, type(None)),
    "to": (list,),
    "cc": (list,),
    "text": (str,),
    "html": (str, type(None)),
    "stripped_text": (str,),
    "attachments": (list,),
    "headers": (list,),
    "parse_warnings": (list,),
}


def corpus_dir():
    src = os.environ.get("MT_SOURCE_DIR") or mtharness.source_dir()
    return os.path.normpath(os.path.join(src, "..", "shared", "corpus",
                                         "email"))


def corpus_files():
    root = corpus_dir()
    found = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name == "SOURCES.md":
                continue
            found.append(os.path.join(dirpath, name))
    return sorted(found)


def all_strings(value):
    """Every string (keys included) in a decoded JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from all_strings(v)


class ParseCorpus(unittest.TestCase):

    def run_parse(self, args, stdin=None):
        return subprocess.run([mtharness.binary(), "parse"] + args,
                              input=stdin, capture_output=True,
                              timeout=TIMEOUT, check=False)

    def check_output(self, name, proc):
        self.assertEqual(proc.returncode, 0, "%s: exit %d, stderr: %s" % (
            name, proc.returncode, proc.stderr.decode("utf-8", "replace")))
        self.assertEqual(proc.stderr, b"", "%s: stderr: %s" % (
            name, proc.stderr.decode("utf-8", "replace")))
        try:
            text = proc.stdout.decode("utf-8", "strict")
        except UnicodeDecodeError as e:
            self.fail("%s: output is not UTF-8: %s" % (name, e))
        try:
            event = json.loads(text)
        except ValueError as e:
            self.fail("%s: output is not JSON: %s" % (name, e))
        msg = event.get("message")
        self.assertIsInstance(msg, dict, "%s: no message object" % name)
        for field, types in FIELDS.items():
            self.assertIn(field, msg, "%s: no %s" % (name, field))
            self.assertIsInstance(msg[field], types,
                                  "%s: %s has type %s" % (
                                      name, field, type(msg[field]).__name__))
        # A "\ud800" escape decodes to a lone surrogate, which no UTF-8
        # holds: every string must encode back.
        for s in all_strings(event):
            try:
                s.encode("utf-8", "strict")
            except UnicodeEncodeError as e:
                self.fail("%s: string not UTF-8: %r (%s)" % (name, s[:80], e))
        return event

    def test_corpus_present(self):
        files = corpus_files()
        self.assertGreaterEqual(len(files), 150, "corpus missing or short "
                                "at %s" % corpus_dir())

    def test_every_file_parses(self):
        files = corpus_files()
        self.assertTrue(files, "no corpus at %s" % corpus_dir())
        for path in files:
            name = os.path.relpath(path, corpus_dir())
            with self.subTest(file=name):
                self.check_output(name, self.run_parse([path]))

    def test_stdin_same_as_file(self):
        for name in ("ruby-mail/multi_charset/japanese_iso_2022.eml",
                     "mimekit/simple-multipart.eml",
                     "nodemailer-mailparser/mixed.eml"):
            path = os.path.join(corpus_dir(), name)
            with self.subTest(file=name), open(path, "rb") as f:
                data = f.read()
                by_file = self.run_parse([path])
                by_stdin = self.run_parse([], stdin=data)
                self.check_output(name, by_stdin)
                self.assertEqual(by_stdin.stdout, by_file.stdout, name)

    def test_known_values(self):
        # Spot checks that the output is the message, not only JSON.
        path = os.path.join(corpus_dir(), "ruby-mail", "multi_charset",
                            "japanese_iso_2022.eml")
        msg = self.check_output("japanese_iso_2022",
                                self.run_parse([path]))["message"]
        self.assertEqual(msg["subject"], "まみむめも")
        self.assertEqual(msg["from"], {"name": "Mikel Lindsaar",
                                       "address": "raasdnil@gmail.com"})
        self.assertEqual(msg["to"][0]["name"], "みける")
        self.assertEqual(msg["stripped_text"], "すみません。")


if __name__ == "__main__":
    unittest.main()
