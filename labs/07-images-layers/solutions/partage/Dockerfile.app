# 07-images-layers / shared-layers, n07-app: the same first three lines as Dockerfile.base
# (the build cache reuses their layers), then a layer of its own that writes version 2.
FROM busybox
RUN mkdir /app
RUN echo "TP 07 : deux images, trois couches communes" > /app/LISEZMOI
RUN echo 2 > /app/version.txt
