// The version raftkv and raftctl report (`--version`); a unit test keeps it equal to
// package.json's, which the image build labels (Dockerfile ARG VERSION) follow too.
export const RAFTKV_VERSION = '0.1.0';
