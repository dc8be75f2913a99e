import Glibc

/// This machine's own client credential: the file, beside the client
/// tokens file (`<state>/client.credential` by default), that holds the
/// secret of the `admin` token the server made on its first start, for the
/// CLI on this machine (`orchion up` then `orchion job submit …` with no
/// flag). The server's client tokens file keeps only hashes, so the CLI
/// cannot read its token there any more. Owner-only (0600), like every
/// token file; one bare token a line.
///
/// Threading: blocking file I/O; call off the event loop thread.
public enum ClientCredentialFile {
    /// The file's name in its directory.
    public static let name = "client.credential"

    /// The credential file beside `clientTokensPath`.
    public static func path(besideClientTokens clientTokensPath: String) -> String {
        let directory = DurableFiles.parent(of: clientTokensPath)
        return (directory == "/" ? "" : directory) + "/" + name
    }

    /// Replaces `path` with `secret` (mode 0600, atomically), making missing directories (0700).
    public static func write(_ path: String, secret: String) throws(TokenFileError) {
        do throws(DurableFiles.Failure) {
            try DurableFiles.makeDirectories(DurableFiles.parent(of: path))
        } catch {
            throw TokenFileError(path: path, error.reason)
        }
        try TokenFile.replace(
            path,
            contents:
                "# orchion client credential: this machine's CLI sends it as its token; keep this file mode 0600\n"
                + secret + "\n")
    }

    /// The secret in `path` (owner-only, one token).
    public static func read(_ path: String) throws(TokenFileError) -> String {
        let tokens = try TokenFile.read(path)
        guard tokens.count == 1, let only = tokens.first else {
            throw TokenFileError(path: path, "expected one token, found \(tokens.count)")
        }
        return only.secret
    }
}
