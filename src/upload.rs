//! Request bodies (PDFs, OFDs), hashed on the way in. A small body stays in memory (a
//! temporary file costs more system calls than sealing a small PDF takes); one that grows past
//! [`IN_MEMORY`] is moved to an anonymous temporary file (unlinked from the start, so it
//! disappears when dropped, on error, and even if the process is killed), so that memory does
//! not grow with the size of a large upload; the answer is streamed back out of the same file.

use std::io::{Read, Seek, Write};

use actix_web::web::Bytes;
use futures_util::{Stream, StreamExt};

/// Largest body kept in memory.
pub const IN_MEMORY: usize = 1024 * 1024;

/// Where a body is.
enum Body {
    Memory(Vec<u8>),
    File(std::fs::File),
}

/// A received body: where it is, its length and SHA-256 so far.
pub struct Upload {
    body: Body,
    len: u64,
    digest: ring::digest::Context,
}

impl std::fmt::Debug for Upload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload").field("len", &self.len).finish()
    }
}

/// Why a body could not be received.
#[derive(Debug)]
pub enum UploadError {
    TooLarge,
    Io(std::io::Error),
}

impl Upload {
    /// A new, empty upload (in memory until it grows past [`IN_MEMORY`]).
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            body: Body::Memory(Vec::new()),
            len: 0,
            digest: ring::digest::Context::new(&ring::digest::SHA256),
        })
    }

    /// Whether the body went to a temporary file.
    pub fn on_disk(&self) -> bool {
        matches!(self.body, Body::File(_))
    }

    /// Appends a chunk, refusing to grow past `max` bytes.
    pub fn push(&mut self, chunk: &[u8], max: u64) -> Result<(), UploadError> {
        if self.len + chunk.len() as u64 > max {
            return Err(UploadError::TooLarge);
        }
        match &mut self.body {
            Body::Memory(bytes) if bytes.len() + chunk.len() <= IN_MEMORY => {
                bytes.extend_from_slice(chunk)
            }
            Body::Memory(bytes) => {
                let mut file = tempfile::tempfile().map_err(UploadError::Io)?;
                file.write_all(bytes).map_err(UploadError::Io)?;
                file.write_all(chunk).map_err(UploadError::Io)?;
                self.body = Body::File(file);
            }
            Body::File(file) => file.write_all(chunk).map_err(UploadError::Io)?,
        }
        self.digest.update(chunk);
        self.len += chunk.len() as u64;
        Ok(())
    }

    /// An upload holding `bytes` (tests, the command line).
    pub fn from_bytes(bytes: &[u8]) -> std::io::Result<Self> {
        let mut upload = Self::new()?;
        upload
            .push(bytes, u64::MAX)
            .map_err(|_| std::io::Error::other("cannot write the temporary file"))?;
        Ok(upload)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// SHA-256 so far, as a context that can go on hashing what follows the body.
    pub fn digest(&self) -> ring::digest::Context {
        self.digest.clone()
    }

    /// The whole body (blocking): lent when it is in memory, read from its file otherwise.
    pub fn contents(&mut self) -> std::io::Result<std::borrow::Cow<'_, [u8]>> {
        if matches!(self.body, Body::File(_)) {
            return self.read_all().map(std::borrow::Cow::Owned);
        }
        match &self.body {
            Body::Memory(bytes) => Ok(std::borrow::Cow::Borrowed(bytes)),
            Body::File(_) => Err(std::io::ErrorKind::InvalidInput.into()),
        }
    }

    /// Reads the whole body (blocking): for parsers that need it in one piece.
    pub fn read_all(&mut self) -> std::io::Result<Vec<u8>> {
        match &mut self.body {
            Body::Memory(bytes) => Ok(bytes.clone()),
            Body::File(file) => {
                file.rewind()?;
                let mut bytes = Vec::with_capacity(usize::try_from(self.len).unwrap_or_default());
                file.take(self.len).read_to_end(&mut bytes)?;
                Ok(bytes)
            }
        }
    }

    /// The temporary file of a body on disk, rewound (blocking readers that read by offset).
    pub fn file(&mut self) -> Option<&mut std::fs::File> {
        match &mut self.body {
            Body::File(file) => file.rewind().ok().map(|_| file),
            Body::Memory(_) => None,
        }
    }

    /// The body followed by `tail`, as a stream of chunks read from the file; the file is
    /// removed when the stream is dropped.
    pub fn stream_with(
        self,
        tail: Vec<u8>,
    ) -> std::io::Result<impl Stream<Item = Result<Bytes, std::io::Error>> + 'static> {
        let (file, head) = match self.body {
            Body::Memory(bytes) => (None, Some(Bytes::from(bytes))),
            Body::File(mut file) => {
                file.rewind()?;
                (Some((file, self.len)), None)
            }
        };
        let head = futures_util::stream::iter(head.map(Ok));
        let state = (file, Some(tail));
        Ok(head.chain(futures_util::stream::unfold(
            state,
            |(mut file, mut tail)| async move {
                if let Some((mut f, left)) = file.take() {
                    if left > 0 {
                        let want = left.min(256 * 1024);
                        // Small blocking reads of a local file just written (in the page
                        // cache); moved off the async threads all the same.
                        let read = tokio::task::spawn_blocking(move || {
                            let mut buf = Vec::with_capacity(want as usize);
                            let n = (&mut f).take(want).read_to_end(&mut buf);
                            (f, buf, n)
                        })
                        .await;
                        return match read {
                            Ok((f, buf, Ok(n))) if n > 0 => {
                                Some((Ok(Bytes::from(buf)), (Some((f, left - n as u64)), tail)))
                            }
                            Ok((_, _, Err(e))) => Some((Err(e), (None, None))),
                            _ => Some((
                                Err(std::io::Error::other("the temporary file ended early")),
                                (None, None),
                            )),
                        };
                    }
                }
                tail.take()
                    .filter(|t| !t.is_empty())
                    .map(|t| (Ok(Bytes::from(t)), (None, None)))
            },
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_the_body_then_the_tail() {
        // In memory, and (past IN_MEMORY) moved to a file on the way.
        for (size, on_disk) in [(600_000u32, false), (1_500_000, true)] {
            streams_back(size, on_disk).await;
        }
    }

    async fn streams_back(size: u32, on_disk: bool) {
        let body: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let size = size as usize;
        let max = size as u64 + 1000;
        let mut upload = Upload::new().unwrap();
        for chunk in body.chunks(70_000) {
            upload.push(chunk, max).unwrap();
        }
        assert!(matches!(
            upload.push(&[0; 2000], max),
            Err(UploadError::TooLarge)
        ));
        assert_eq!(upload.on_disk(), on_disk);
        assert_eq!(upload.file().is_some(), on_disk);
        assert_eq!(upload.len(), size as u64);
        assert_eq!(upload.read_all().unwrap(), body);
        let expected = ring::digest::digest(&ring::digest::SHA256, &body);
        assert_eq!(upload.digest().finish().as_ref(), expected.as_ref());
        let chunks: Vec<Bytes> = upload
            .stream_with(b"tail".to_vec())
            .unwrap()
            .map(|c| c.unwrap())
            .collect()
            .await;
        let joined: Vec<u8> = chunks.concat();
        assert_eq!(&joined[..size], &body[..]);
        assert_eq!(&joined[size..], b"tail");
    }
}
